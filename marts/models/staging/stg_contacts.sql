{#- The one wide read of the warehouse: completed and no-show contacts, narrowed to the columns the KPIs
    use, with integer keys (64-bit hashes of the pseudonyms; tests/assert_person_key_is_collision_free
    proves they stay one-to-one) so every later window sorts 8-byte keys, not 64-character strings. -#}
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='month_n',
          on_schema_change='fail') }}

with contacts as (
    select
        hash(person_id) as person_key,
        partner,
        coalesce(service_area, 'unmapped') as service_area,
        contact_mode,
        professional_group,
        case when professional_id is not null then hash(professional_id) end as professional_key,
        -- NGO attendance records the day only: such a contact starts at local midnight of its day, so it
        -- orders first among the day's contacts (continuity and transitions order by time).
        coalesce(event_start, timezone('Europe/Helsinki', event_date::timestamp)) as event_start,
        event_date,
        {{ month_n('event_date') }} as month_n,
        status,
        age_at_event,
        home_municipality = '837' and home_postal_code in (select postal_code from {{ ref('tesoma_area') }})
            as is_area_resident,
        (assessment_time at time zone 'Europe/Helsinki')::date as assessment_date,
        urgency
    {%- if is_incremental() %}
    -- Adding a month: not the whole current view (its latest-version window sorts every contact ever
    -- delivered) but every version of the contacts that are, or ever were, dated in the new months, and
    -- of those the latest — by the catalog's own order (warehouse/catalog.py _LATEST).
    from ({{ service_event_versions_since(month_date(incremental_from_n())) }})
    {%- else %}
    from {{ source('warehouse', 'service_event_current') }}
    {%- endif %}
    where status in ('completed', 'no_show')
      and event_date is not null
)

select *
from contacts
where true
{%- if var('last_month') %}
  and month_n <= {{ month_n("date '" ~ var('last_month') ~ "'") }}
{%- endif %}
{%- if is_incremental() %}
  and month_n >= {{ incremental_from_n() }}
{%- endif %}

