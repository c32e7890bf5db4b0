#!/bin/sh
# Run once by the workshop's setup service, in the project folder, as the IDE user.
set -eu
npm ci --no-audit --no-fund --loglevel=error
