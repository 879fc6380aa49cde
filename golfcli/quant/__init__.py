"""Calibration and quantization: self-generated GPTQ Hessians, GPTQ/RTN on symmetric grids, bit planning.

Stage functions: `golfcli.quant.calibrate.calibrate` (checkpoint → Hessians file) and
`golfcli.quant.quantize.quantize` (checkpoint [+ Hessians] → quantized file).
"""
