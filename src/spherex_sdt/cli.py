"""Command line of spherex-sdt.

``spherex-sdt run "NGC 6888"`` or ``spherex-sdt run 303.06 38.35`` runs the workflow for one target without a
target list; ``spherex-sdt names`` resolves (or re-resolves) the names of a target list; ``spherex-sdt simulate``
writes a simulated SPHEREx archive for a target list; ``spherex-sdt serve`` answers IRSA's protocols (SIA2, TAP,
files, cutouts, S3) for an archive directory on loopback.
"""

import argparse
import dataclasses
import logging
import shlex
import subprocess
import sys
from pathlib import Path

from .errors import InvalidInputError, SpherexSdtError

__all__ = ["main", "run_command", "one_target_row"]

RUN_DIR = ".spherex-sdt"
"""Where ``spherex-sdt run`` writes the one-target list it gives the workflow (in the run directory)."""


def _simulate(args):
    from .simulate import SimulationSettings
    from .tasks.archive import simulate_archive

    settings = {f.name: getattr(args, f.name) for f in dataclasses.fields(SimulationSettings)
                if getattr(args, f.name, None) is not None}
    simulate_archive(args.targets, args.out, settings)


def one_target_row(words, name=None):
    """The target list row of ``spherex-sdt run WORDS``: ``(target, object_name, ra, dec)`` as CSV text fields.

    Two words that are both angles are a position (decimal degrees, or sexagesimal with RA in hours); anything
    else is an object name, resolved when the workflow plans. ``name`` sets the target name (the folder under
    ``results/``); by default it is made from the object name (``NGC_6888``) or the position (``J201214.4+382100``).
    """
    from .targets import check_target_name, parse_angle, target_slug

    words = [w for w in words if w.strip()]
    if not words:
        raise InvalidInputError("spherex-sdt run: give an object name or RA and Dec")
    position = None
    if len(words) == 2:
        position = parse_angle(words[0], "ra"), parse_angle(words[1], "dec")
        if None in position:
            position = None  # not two angles: an object name of two words, such as NGC 6888
        elif not (0 <= position[0] < 360 and -90 <= position[1] <= 90):
            raise InvalidInputError(f"spherex-sdt run: RA {words[0]} must be in [0, 360) degrees (or [0, 24) hours) "
                                    f"and Dec {words[1]} in [-90, 90] degrees")
    if position is not None:
        from astropy.coordinates import Angle

        ra_text = Angle(position[0], "deg").to_string(unit="hourangle", sep="", precision=1, pad=True)
        dec_text = Angle(position[1], "deg").to_string(unit="deg", sep="", precision=0, pad=True, alwayssign=True)
        target = name or f"J{ra_text}{dec_text}"
        row = (target, "", f"{position[0]:.8f}", f"{position[1]:.8f}")
    else:
        object_name = " ".join(words)
        target = name or target_slug(object_name)
        row = (target, object_name, "", "")
    problem = check_target_name(target)
    if problem:
        raise InvalidInputError(f"spherex-sdt run: target name: {problem} (choose one with --name)")
    return row


def run_command(args, snakefile, targets_csv):
    """The Snakemake command line of ``spherex-sdt run`` (a list of arguments)."""
    command = [*shlex.split(args.snakemake), "--snakefile", str(snakefile)]
    if args.profile:
        command += ["--workflow-profile", str(args.profile)]
    if args.configfile:
        command += ["--configfile", str(args.configfile)]
    config = [f"targets={targets_csv}", f"resolved_names={args.resolved_names}"]
    if args.pairs:
        config.append(f"pairs=[{','.join(args.pairs)}]")
    return [*command, "--config", *config, *args.snakemake_args]


def _find_snakefile(given):
    if given:
        return Path(given)
    here = Path.cwd() / "Snakefile"
    source = Path(__file__).resolve().parents[2] / "Snakefile"  # a source checkout (pip install -e .)
    for candidate in (here, source):
        if candidate.is_file() and "spherex" in candidate.read_text(errors="replace")[:2000]:
            return candidate
    raise InvalidInputError("spherex-sdt run: cannot find the workflow's Snakefile; give --snakefile")


def _run(args):
    from .targets import read_targets

    target, object_name, ra, dec = one_target_row(args.what, args.name)
    folder = Path(RUN_DIR)
    folder.mkdir(exist_ok=True)
    targets_csv = folder / f"{target}.csv"
    quoted = object_name.replace('"', '""')
    targets_csv.write_text(f'target,name,ra_deg,dec_deg\n{target},"{quoted}",{ra},{dec}\n', encoding="utf-8")
    if object_name:  # resolve now (or again, on request) so that a bad name stops here with a plain message
        table = read_targets(targets_csv, frozen=args.resolved_names, refresh=args.again)
        print(f"spherex-sdt run: {object_name} = {target} at RA {table['ra_deg'][0]:.6f}, Dec "
              f"{table['dec_deg'][0]:+.6f} ({table['position_from'][0]})", file=sys.stderr)
    command = run_command(args, _find_snakefile(args.snakefile), targets_csv)
    print("spherex-sdt run: " + shlex.join(command), file=sys.stderr, flush=True)
    return subprocess.run(command, check=False).returncode


def _names(args):
    from .targets import read_targets

    table = read_targets(args.targets, frozen=args.resolved_names, refresh=args.again)
    for row in table:
        print(f"{row['target']}\t{row['ra_deg']:.7f}\t{row['dec_deg']:+.7f}\t{row['position_from']}")
    return 0


def _parser():
    from .simulate import SimulationSettings

    parser = argparse.ArgumentParser(prog="spherex-sdt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve an archive directory over IRSA's protocols on loopback (see serve --help)")

    run = sub.add_parser("run", help="run the workflow for one target, by name or position",
                         description="Run the workflow for one target, without writing a target list: "
                                     "spherex-sdt run \"NGC 6888\"; spherex-sdt run 303.06 38.35 --pairs D2-D4; "
                                     "spherex-sdt run 20:12:14.4 +38:21:00 -- --dry-run. Arguments after -- go "
                                     "to Snakemake.")
    run.add_argument("what", nargs="+", help="an object name, or RA and Dec (degrees, or sexagesimal with RA in hours)")
    run.add_argument("--pairs", nargs="+", metavar="PAIR", help="detector pairs, e.g. D2-D4 (default: the config's)")
    run.add_argument("--name", help="target name: the folder under results/ (default: made from the name or position)")
    run.add_argument("--profile", help="Snakemake workflow profile, e.g. profiles/slurm")
    run.add_argument("--configfile", help="config file (default: the workflow's config/config.yaml, IRSA)")
    run.add_argument("--resolved-names", default="results/resolved_names.ecsv",
                     help="where resolved names are frozen (default: %(default)s)")
    run.add_argument("--again", action="store_true", help="resolve the name again even if it is frozen")
    run.add_argument("--snakefile", help="the workflow's Snakefile (default: ./Snakefile, else this package's)")
    run.add_argument("--snakemake", default=shlex.join([sys.executable, "-m", "snakemake"]),
                     help="the Snakemake command (default: this Python's snakemake)")

    names = sub.add_parser("names", help="resolve the names of a target list (frozen; --again to resolve again)")
    names.add_argument("targets", help="target list (CSV)")
    names.add_argument("--resolved-names", default="results/resolved_names.ecsv",
                       help="where resolved names are frozen (default: %(default)s)")
    names.add_argument("--again", action="store_true", help="resolve every name again")

    sim = sub.add_parser("simulate", help="write a simulated SPHEREx archive (Level-2 files, index, truth)")
    sim.add_argument("--targets", required=True, help="CSV with columns target, ra_deg, dec_deg")
    sim.add_argument("--out", required=True, help="archive directory to write")
    defaults = SimulationSettings()
    for field in dataclasses.fields(SimulationSettings):
        if field.type in (int, float, "int", "float"):
            kind = int if field.type in (int, "int") else float
            sim.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, default=None,
                             help=f"default {getattr(defaults, field.name)}")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:
        from .testing.loopback import main as serve

        try:
            return serve(argv[1:]) or 0
        except SpherexSdtError as exc:
            print(f"spherex-sdt serve: error: {exc}", file=sys.stderr)
            return 2
    snakemake_args = []
    if "--" in argv:  # everything after -- goes to Snakemake untouched
        cut = argv.index("--")
        argv, snakemake_args = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(argv)
    args.snakemake_args = snakemake_args
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "simulate":
            _simulate(args)
        elif args.command == "run":
            return _run(args)
        elif args.command == "names":
            return _names(args)
    except SpherexSdtError as exc:
        print(f"spherex-sdt: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
