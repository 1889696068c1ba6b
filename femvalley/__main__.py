"""``python -m femvalley``: the femvalley command line."""

from femvalley.cli import main_exit

main_exit()
