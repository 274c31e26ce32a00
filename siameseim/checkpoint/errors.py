"""The two signals of checkpoint import: an error whose message names the fix, and the untrusted-pickle warning."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message is one line naming the fix."""


class UntrustedPickleWarning(UserWarning):
    """Emitted when a checkpoint is unpickled with ``weights_only=False`` on the caller's request."""


__all__ = ['CheckpointError', 'UntrustedPickleWarning']
