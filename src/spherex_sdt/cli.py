"""Command line: ``spherex-sdt simulate`` writes a simulated SPHEREx archive for a target list;
``spherex-sdt serve`` answers IRSA's protocols (SIA2, TAP, files, cutouts, S3) for an archive directory on loopback."""

import argparse
import dataclasses
import logging
import sys

from .errors import SpherexSdtError

__all__ = ["main"]


def _simulate(args):
    from .simulate import SimulationSettings
    from .tasks.archive import simulate_archive

    settings = {f.name: getattr(args, f.name) for f in dataclasses.fields(SimulationSettings)
                if getattr(args, f.name, None) is not None}
    simulate_archive(args.targets, args.out, settings)


def main(argv=None):
    from .simulate import SimulationSettings

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:
        from .testing.loopback import main as serve

        try:
            return serve(argv[1:]) or 0
        except SpherexSdtError as exc:
            print(f"spherex-sdt serve: error: {exc}", file=sys.stderr)
            return 2

    parser = argparse.ArgumentParser(prog="spherex-sdt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve an archive directory over IRSA's protocols on loopback (see serve --help)")
    sim = sub.add_parser("simulate", help="write a simulated SPHEREx archive (Level-2 files, index, truth)")
    sim.add_argument("--targets", required=True, help="CSV with columns target, ra_deg, dec_deg")
    sim.add_argument("--out", required=True, help="archive directory to write")
    defaults = SimulationSettings()
    for field in dataclasses.fields(SimulationSettings):
        if field.type in (int, float, "int", "float"):
            kind = int if field.type in (int, "int") else float
            sim.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, default=None,
                             help=f"default {getattr(defaults, field.name)}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "simulate":
            _simulate(args)
    except SpherexSdtError as exc:
        print(f"spherex-sdt: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
