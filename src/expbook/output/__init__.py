"""Output of expbook commands: `render` turns rows into table/CSV/Markdown/JSON/HTML text;
`files` checks and writes output paths safely. Ground level: imports only errors, env and
gitcmd (is a target git-tracked?).

`from expbook import output; output.render(rows, columns, "csv")`
"""

from expbook.output.files import (  # noqa: F401
    check_output_dir,
    check_output_path,
    write_atomic,
    write_output,
)
from expbook.output.render import (  # noqa: F401
    BASE_COLUMNS,
    EXTENSIONS,
    FORMATS,
    cell,
    data_columns,
    emit,
    escape_control,
    format_for,
    natural_width,
    only_changed,
    ordered_columns,
    print_table,
    render,
    rich_table,
    select_columns,
    short_names,
    sort_rows,
    terminal_width,
    to_csv,
    to_html,
    to_json,
    to_json_records,
    to_markdown,
    to_table,
)
