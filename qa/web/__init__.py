"""The chat in the browser: Gradio wiring (:mod:`.app`), rendering (:mod:`.render`), handlers, state, guard."""
