import sys

from tui.cli import main

sys.exit(main(own_process=True))
