# setuptools needs a setup.py for cffi's out-of-line modules (cffi issue #55);
# everything else lives in pyproject.toml.
from setuptools import setup

setup(
    # Built with the package (wheel and editable install), never at run time
    # as root: the helper imports the prebuilt pppup_helper._syscalls.
    # pppup.chat._scan is the chat engine's compiled expect loop (scanner.py).
    cffi_modules=["helper/pppup_helper/_syscalls_build.py:ffibuilder",
                  "client/pppup/chat/_scan_build.py:ffibuilder"],
)
