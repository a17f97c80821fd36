"""MiniWoB++ through the ``miniwob`` package and a real headless Chromium: screenshot + utterance in,
``click(x, y)`` / ``type("text")`` out, the benchmark's own reward, a scripted expert reading the DOM."""
