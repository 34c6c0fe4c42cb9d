"""The wire protocol between the unprivileged pppup client and the root helper.

Pure standard library: imported by both sides, reviewed as root attack surface.
"""
