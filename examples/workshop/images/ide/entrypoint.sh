#!/bin/sh
# Starts the shared terminal session (the one the guide's "run in terminal" buttons type into) and its
# bridge, then code-server on the project. PASSWORD (read by code-server) is the login password.
set -eu
: "${WORKSHOP_TMUX_SOCKET:=/var/run/dockhand-terminal/tmux.sock}"
: "${PROJECT_DIR:=/home/coder/project}"
export WORKSHOP_TMUX_SOCKET PROJECT_DIR
mkdir -p "$(dirname "$WORKSHOP_TMUX_SOCKET")"
tmux -S "$WORKSHOP_TMUX_SOCKET" new-session -d -s workshop -c "$PROJECT_DIR" 2>/dev/null || true
node /usr/local/lib/workshop/terminal-bridge.mjs &
exec code-server --bind-addr "0.0.0.0:${IDE_PORT:-13337}" --auth password \
  --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override "$@" "$PROJECT_DIR"
