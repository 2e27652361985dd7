# Source this to use Debian's OpenFOAM (v1912) from a shell: `. validation/openfoam/env.sh`.
# Debian installs the binaries in /usr/bin and the project files in /usr/share/openfoam; the tools find
# their etc/controlDict through WM_PROJECT_DIR. Sourcing etc/bashrc also sets the rest of the
# environment (its "foamCleanPath: No such file" warnings are harmless: Debian leaves that script out).
export WM_PROJECT_DIR=/usr/share/openfoam
if [ -r "$WM_PROJECT_DIR/etc/bashrc" ] && [ -n "${BASH_VERSION:-}" ]; then
    . "$WM_PROJECT_DIR/etc/bashrc" 2>/dev/null || true
fi
