{#- Months as integers (year * 12 + month - 1): windows are integer ranges, cheap to sort and join. -#}

{% macro month_n(date_expr) -%}
    (year({{ date_expr }}) * 12 + month({{ date_expr }}) - 1)::integer
{%- endmacro %}

{% macro month_date(n_expr) -%}
    make_date(({{ n_expr }}) // 12, ({{ n_expr }}) % 12 + 1, 1)
{%- endmacro %}

{#- The months this run computes, as a one-row CTE body (first_n, last_n, data_first_n).
    Full refresh: var first_month (default: the data's first month) .. var last_month (default: the
    data's last month). Incremental run: last_month only, so adding a month recomputes one month.
    `contacts`: the staging model whose months are the data's (default stg_contacts; reach and
    integration pass stg_area_contacts, the only contacts they read). -#}
{% macro target_months(contacts=none) -%}
    {%- set contacts = contacts if contacts is not none else ref('stg_contacts') -%}
    select
        {% if adding_a_month() -%}
        {{ last_month_n(contacts) }} as first_n,
        {%- elif var('first_month') -%}
        {{ month_n("date '" ~ var('first_month') ~ "'") }} as first_n,
        {%- else -%}
        (select min(month_n) from {{ contacts }}) as first_n,
        {%- endif %}
        {{ last_month_n(contacts) }} as last_n,
        (select min(month_n) from {{ contacts }}) as data_first_n
{%- endmacro %}

{% macro last_month_n(contacts=none) -%}
    {%- if var('last_month') -%}
    {{ month_n("date '" ~ var('last_month') ~ "'") }}
    {%- else -%}
    (select max(month_n) from {{ contacts if contacts is not none else ref('stg_contacts') }})
    {%- endif -%}
{%- endmacro %}

{#- True when this run recomputes last_month only: in a run scorecard.marts.build started without
    full_refresh (var incremental_run), an incremental model on an existing table or an intermediate table.
    (A plain `dbt build` without the var recomputes every month, and delete+insert keeps that correct.)
    Such a run needs an existing full build (kpi_* keep the earlier months). -#}
{% macro adding_a_month() -%}
    {%- if not (var('incremental_run') | as_bool) -%}
    {{ return(false) }}
    {%- elif config.get('materialized') == 'incremental' -%}
    {{ return(is_incremental()) }}
    {%- else -%}
    {{ return(true) }}
    {%- endif -%}
{%- endmacro %}

{#- Config of a model recomputed month by month: delete+insert on month. -#}
{% macro monthly_incremental_config() -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': 'month',
               'on_schema_change': 'fail'}) }}
{%- endmacro %}

{#- The first month an incremental run re-reads: var last_month, or the last month already built. -#}
{% macro incremental_from_n() -%}
  {%- if var('last_month') -%}
  {{ month_n("date '" ~ var('last_month') ~ "'") }}
  {%- else -%}
  (select max(month_n) from {{ this }})
  {%- endif -%}
{%- endmacro %}

{#- The latest version of every contact that is, or ever was, dated on or after `first_date`, by the
    catalog's own order (warehouse/catalog.py _LATEST): what a run adding a month reads instead of the
    whole current view, whose latest-version window covers every contact ever delivered. A subquery body. -#}
{% macro service_event_versions_since(first_date) -%}
    select *
    from {{ source('warehouse', 'service_event') }}
    where event_id in (
        select event_id from {{ source('warehouse', 'service_event') }}
        where event_date >= {{ first_date }}
    )
    qualify row_number() over (
        partition by event_id order by source_updated_at desc, delivery_date desc, delivery_id desc) = 1
{%- endmacro %}
