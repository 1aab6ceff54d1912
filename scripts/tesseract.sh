#!/usr/bin/env bash
# Make sure Debian's Tesseract and its data for the languages given (Tesseract codes: `./scripts/tesseract.sh eng deu
# chi_sim`; default eng) are installed, and print the binary's path. Installs with apt-get when missing: root here
# and in CI. Nothing else needs Tesseract: without it text documents ingest as before and a scanned page is reported
# with this command (RAG_OCR, RAG_OCR_LANGUAGES: docs/configuration.md).
set -euo pipefail
languages=("$@")
[ ${#languages[@]} -gt 0 ] || languages=(eng)
packages=()
command -v tesseract >/dev/null 2>&1 || packages+=(tesseract-ocr)
installed=" $(tesseract --list-langs 2>/dev/null | tail -n +2 | tr '\n' ' ') "
for language in "${languages[@]}"; do
  if [[ ! "$language" =~ ^[A-Za-z0-9_]+$ ]]; then
    echo "not a Tesseract language code: $language" >&2
    exit 2
  fi
  # Debian names a language's package by its code, lower case, '_' as '-' (chi_sim: tesseract-ocr-chi-sim)
  [[ "$installed" == *" $language "* ]] || packages+=("tesseract-ocr-$(echo "$language" | tr 'A-Z_' 'a-z-')")
done
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Tesseract is missing: install Debian's packages (apt-get install ${packages[*]}) as root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >&2 \
    || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >&2; }
fi
command -v tesseract
