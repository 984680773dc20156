# Cross-compiling the addon for linux-arm64 on an x86-64 Debian/Ubuntu host
# (scripts/prebuild.js passes it as CMAKE_TOOLCHAIN_FILE). Needs
# g++-aarch64-linux-gnu and liburing-dev:arm64 (multiarch: dpkg
# --add-architecture arm64); liburing.a is then found under
# /usr/lib/aarch64-linux-gnu and the header in /usr/include.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Only the arm64 multiarch directories for libraries: never link an x86-64
# liburing.a by accident.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
