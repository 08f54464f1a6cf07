"""The tests run in JAX's 64-bit mode, as the command line and the app do (importing
dynamics leaves the mode alone: dynamics.precision), and with the persistent compilation
cache off (dynamics.compile_cache), in this process and in the apps and commands they
start, so that no test reads programs another run wrote; tests/test_compile_cache.py
gives its subprocesses a fresh cache folder of their own."""
import os

from dynamics import compile_cache, enable_float64

os.environ[compile_cache.ENV] = "off"
enable_float64()
