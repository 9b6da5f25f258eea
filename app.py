"""release-qa chat: `python app.py [--host 127.0.0.1] [--port 7860] [--corpus seeds] [--index embeddings]`.

The same as `python -m qa chat`; everything lives in :mod:`qa.web.app`.
"""

import sys

from qa.web.app import main

if __name__ == "__main__":
    sys.exit(main())
