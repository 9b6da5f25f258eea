"""From ranked chunks to an answer: the cited passages, the answering sentence, or an honest refusal."""
