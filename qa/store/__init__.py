"""The index on disk: the only code that imports faiss or bm25s or writes into an index folder."""
