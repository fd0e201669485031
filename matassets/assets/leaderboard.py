"""Reports: ``model_leaderboard``, every model and partition trained so far, in one table and plot."""

import dagster as dg

from matassets.assets.metadata import image
from matassets.assets.resources import ProjectResource
from matassets.families import FAMILIES

# every model asset: the leaderboard reads their files, so lineage shows it downstream of each
MODEL_ASSETS = [dg.AssetKey(name) for family in FAMILIES for name in family.asset_names()]


@dg.asset(
    name="model_leaderboard",
    group_name="reports",
    kinds={"csv"},
    tags={"phase": "reports"},
    deps=MODEL_ASSETS,
    # a view derived from the models' files, rebuilt on every run: no dvc.yaml stage of its own
    metadata={"dvc_outs": []},
    description="Test metric beside its baseline for every model and partition found under `models/` "
    "(read from the model folders, downstream of every model asset); files in `models/leaderboard/`",
)
def model_leaderboard(context: dg.AssetExecutionContext, project: ProjectResource):
    from matassets.reports.leaderboard import best_per_property, gather, markdown, write_csv
    from matassets.reports.plots import leaderboard_plot

    out_dir = project.layout.leaderboard_dir()
    rows = gather(project.layout.root)
    csv_path = write_csv(rows, out_dir / "leaderboard.csv")
    png_path = leaderboard_plot(rows, out_dir / "leaderboard.png")
    best = best_per_property(rows)
    context.log.info(f"leaderboard: {len(rows)} rows, {len(best)} properties")
    summary = ["property", "asset", "partition", "metric", "unit", "test", "baseline", "ratio"]
    return dg.MaterializeResult(
        metadata={
            "best per property": dg.MetadataValue.md(markdown(list(best.values()), summary)),
            "leaderboard": dg.MetadataValue.md(markdown(rows)),
            "plot": image(png_path),
            "models": len({(r["asset"], r["partition"]) for r in rows}),
            "rows": len(rows),
            "csv": dg.MetadataValue.path(str(csv_path)),
        }
    )
