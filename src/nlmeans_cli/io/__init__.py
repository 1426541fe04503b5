"""Files: atomic writes and output checks, still images, sequences (clips, stacks), folders.

The package's input and output, beside the denoising core: nothing here denoises, and nothing
in the core reads or writes files.
"""
