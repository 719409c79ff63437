"""``nnkit bench``: scenarios, contenders, timing, report and peers, and against (another
checkout's rows, timed by ``worker.py``); imported only when that command runs (it imports
peer libraries and sets process-wide thread and XLA settings)."""
