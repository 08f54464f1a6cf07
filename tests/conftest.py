"""The tests run in JAX's 64-bit mode, as the command line and the app do (importing
dynamics leaves the mode alone: dynamics.precision)."""
from dynamics import enable_float64

enable_float64()
