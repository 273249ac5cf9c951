from .mae_decoder import FastMAEDecoder  # noqa: F401
