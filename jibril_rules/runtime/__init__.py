"""Run time: events -> kernel model -> decision tree -> detections -> printers.

Never imports the compiler (tests/test_architecture.py checks)."""
