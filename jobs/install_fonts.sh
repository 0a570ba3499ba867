#!/bin/sh
# Installs the Debian font packages that batch_ocr/train/fonts/{train,heldout}.txt point into
# (/usr/share/fonts). Needed to reproduce the `printed` model's synthetic training data; the tests
# only render with DejaVu (fonts-dejavu-core is on every Debian image).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
    fonts-dejavu fonts-liberation fonts-liberation2 fonts-urw-base35 fonts-texgyre \
    fonts-noto-core fonts-freefont-ttf fonts-crosextra-carlito fonts-crosextra-caladea \
    fonts-croscore fonts-ebgaramond fonts-lato fonts-open-sans fonts-roboto fonts-roboto-unhinted \
    fonts-cantarell fonts-inconsolata fonts-courier-prime fonts-linuxlibertine fonts-go \
    fonts-firacode fonts-hack fonts-comic-neue
