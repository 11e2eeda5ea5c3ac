#!/usr/bin/env bash
# Debian/Ubuntu packages for the GUI and its headless tests: a virtual X server, Mesa (llvmpipe
# OpenGL 4.5) and the xcb libraries Qt's xcb platform plugin loads. Needs root (or sudo).
set -euo pipefail
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    xvfb xauth \
    libgl1 libegl1 libgl1-mesa-dri libegl-mesa0 libglx-mesa0 libopengl0 \
    libxkbcommon0 libxkbcommon-x11-0 libxcb1 libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 \
    libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 libxcb-randr0 \
    libxcb-xfixes0 libxcb-sync1 libxcb-xkb1 libxcb-shm0 libxcb-render0 libxcb-glx0 \
    libx11-xcb1 libxrender1 libxi6 libsm6 libice6 libfontconfig1 libfreetype6 libdbus-1-3 \
    fonts-dejavu-core >/dev/null
