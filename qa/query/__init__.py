"""From a question to ranked chunks: checking it, resolving follow-ups, searching, fusing."""
