"""Which product this installation of licwiz licenses.

One licwiz build serves one product; ``LICWIZ_PRODUCT`` overrides it for
tests and demos. The product id keys the fingerprint digests, so the same
computer gives unrelated digests to different products.
"""

from __future__ import annotations

import os

DEFAULT_PRODUCT = "licwiz-demo"


def current_product() -> str:
    return os.environ.get("LICWIZ_PRODUCT") or DEFAULT_PRODUCT
