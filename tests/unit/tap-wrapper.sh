#!/bin/sh
# GTest programs print TAP with --tap; automake's TAP driver reads it.
exec "$@" --tap
