from .token_pruning_encoder_decoder import TokenPruningEncoderDecoder  # noqa: F401
