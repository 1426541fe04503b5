"""Numba settings shared by every kernel of the package.

All kernels take their fast-math flags from :data:`FASTMATH`: the flags that let LLVM
reassociate and vectorise sums, but not ``nnan`` or ``ninf``, so NaN and inf keep their
IEEE meaning.
"""

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
