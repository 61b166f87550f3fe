"""Test doubles, kept out of the product path: a stand-in for IRSA's services on loopback.

`~spherex_sdt.testing.loopback.LoopbackIrsa` answers SIA2, TAP, HTTP (ranges included), the cutout service and,
with moto, S3, for any archive directory with an ``index.ecsv``, with injectable faults. The tests, the benchmarks
and ``spherex-sdt serve`` use it; nothing in the pipeline does. S3 needs the ``testing`` extra
(``pip install 'spherex-sdt[testing]'``: moto and boto3).
"""
