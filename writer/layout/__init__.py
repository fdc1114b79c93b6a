"""Plain-data layout plans (hdf5-format.md 2-4): field tables, run geometry, metadata, linking.

Nothing here opens a file; :mod:`writer.materialize` writes the plans.
"""

from jfjoch_hil.writer.layout._fields import (
    IMAGE_FIELDS,
    INT64_MIN,
    REFLECTION_INT_COLUMNS,
    ROI_FIELDS,
    SPOT_FIELDS,
    PerImageField,
    per_image_fields,
)
from jfjoch_hil.writer.layout._linking import (
    DIALS_STACK_GROUP,
    FileExtent,
    collection_groups,
    data_file_items,
    link_items,
    low_high_attrs,
    per_image_path,
    reflection_path,
)
from jfjoch_hil.writer.layout._nxmx import (
    END_SCALARS,
    START_SCALARS,
    RunFacts,
    format_time,
    metadata_items,
    user_items,
)
from jfjoch_hil.writer.layout._plan import (
    LAYOUTS,
    Attributes,
    DataFile,
    Dataset,
    Group,
    Link,
    RunGeometry,
    Virtual,
    VirtualSource,
    check_prefix,
    run_geometry,
)

__all__ = [
    "DIALS_STACK_GROUP",
    "END_SCALARS",
    "IMAGE_FIELDS",
    "INT64_MIN",
    "LAYOUTS",
    "REFLECTION_INT_COLUMNS",
    "ROI_FIELDS",
    "SPOT_FIELDS",
    "START_SCALARS",
    "Attributes",
    "DataFile",
    "Dataset",
    "FileExtent",
    "Group",
    "Link",
    "PerImageField",
    "RunFacts",
    "RunGeometry",
    "Virtual",
    "VirtualSource",
    "check_prefix",
    "collection_groups",
    "data_file_items",
    "format_time",
    "link_items",
    "low_high_attrs",
    "metadata_items",
    "per_image_fields",
    "per_image_path",
    "reflection_path",
    "run_geometry",
    "user_items",
]
