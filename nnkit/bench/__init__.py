"""``nnkit bench``: scenarios, contenders, timing, report and peers; imported only when that
command runs (it imports peer libraries and sets process-wide thread and XLA settings)."""
