from .mae_decoder import FastMAEDecoder  # noqa: F401
from .greenmim_decoder import GreenMIMDecoder  # noqa: F401
from .mirl_decoder import MIRLMultiDecoder  # noqa: F401
