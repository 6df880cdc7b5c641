"""The claim page's local server: ``ame serve`` for development.

The page itself is static (``web/claim``, built by ``make web``) and needs no server of
ours: any static host serves ``index.html`` and, optionally, a ``config.json`` beside it.
:class:`PageServer` serves the built page, a generated ``config.json`` and, for
development, the local publish directory under ``/published/``, on 127.0.0.1 only.
"""

from ame.web._server import PageConfig, PageServer, built_page_dir

__all__ = ["PageConfig", "PageServer", "built_page_dir"]
