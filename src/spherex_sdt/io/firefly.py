"""Show a pair's difference image and catalogue in a Firefly viewer (optional; needs the firefly-client package).

`firefly_client` is imported only when a push is made, so the pipeline never needs it unless ``firefly.url`` is set.
"""

import tempfile
from pathlib import Path

from astropy.io import fits

__all__ = ["make_client", "push_pair"]


def make_client(url, channel):
    """A `firefly_client.FireflyClient` for ``url`` on ``channel``; no browser is launched."""
    try:
        from firefly_client import FireflyClient
    except ImportError as exc:  # optional dependency
        msg = f"firefly.url is set ({url}) but firefly-client is not installed: pip install firefly-client"
        raise ImportError(msg) from exc
    return FireflyClient.make_client(url, launch_browser=False, channel_override=channel)


def push_pair(client, difference, catalog, *, key, title):
    """Upload the DIFFERENCE plane (with its WCS) and the VOTable catalogue, and show both.

    Parameters
    ----------
    client : `firefly_client.FireflyClient`
        Or any object with ``upload_file``, ``show_fits`` and ``show_table``.
    difference, catalog : path-like
        ``difference.fits`` and ``catalog.xml`` of a pair.
    key : str
        Unique id for this pair (plot and table ids derive from it).
    title : str
        Shown above the table.

    Returns
    -------
    dict
        What was shown: plot and table ids, the server-side file names and each call's status.
    """
    with tempfile.TemporaryDirectory(prefix="firefly-") as tmp:
        image = Path(tmp) / f"{key}-difference.fits"
        with fits.open(difference) as hdul:  # one HDU with the WCS, so the viewer shows the difference itself
            fits.PrimaryHDU(hdul["DIFFERENCE"].data, hdul["DIFFERENCE"].header).writeto(image)
        image_on_server = client.upload_file(str(image))
    table_on_server = client.upload_file(str(catalog))
    plot_id, tbl_id = f"{key}-difference", f"{key}-catalog"
    shown_image = client.show_fits(file_on_server=image_on_server, plot_id=plot_id, title=f"{title} difference")
    shown_table = client.show_table(file_on_server=table_on_server, tbl_id=tbl_id, title=f"{title} catalogue")
    return {"plot_id": plot_id, "tbl_id": tbl_id, "image_on_server": image_on_server,
            "table_on_server": table_on_server, "show_fits": shown_image, "show_table": shown_table}
