"""Pure parsers: tool output text in, typed records and parse problems out.

Every ``parse_*(text: str) -> ParseResult[Record]`` never raises (see :mod:`.base`); records
are frozen dataclasses. One module per tool:

=============  ==========================================================================
module         functions (record type)
=============  ==========================================================================
sycl_ls        parse_sycl_ls (SyclDevice), count_level_zero_gpus
lspci          parse_lspci_nn (PciDevice), supported_gpus, parse_lspci_vvv (PciDetail)
xpu_smi        parse_discovery, parse_discovery_json (XpuDevice), parse_dump (DumpRow),
               parse_config (TileConfig), parse_config_change (ConfigChange)
ze_peer        parse_ze_peer (PeerResult)
ze_peak        parse_ze_peak, parse_transfer_bw, parse_global_bw (PeakResult)
gemm           parse_gemm (GemmResult) -- matrix_mul_mkl
ccl            parse_ccl_text, parse_ccl_csv (CclResult) -- oneCCL benchmark
dmesg          parse_dmesg (KernelLog: FirmwareLoad, DriverError)
detail_log     split_by_tool (Segment): a concatenated benchmark_detail_log.txt by tool
=============  ==========================================================================

Metrics keyed like reference_perf.csv come from :mod:`multiarc.evaluation.extract`.
"""
