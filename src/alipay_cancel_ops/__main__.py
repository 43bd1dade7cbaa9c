"""``python -m alipay_cancel_ops``: the same as the ``alipay-cancel`` command."""

import sys

from alipay_cancel_ops.cli import main

sys.exit(main())
