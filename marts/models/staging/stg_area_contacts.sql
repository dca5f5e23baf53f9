{#- The contacts reach and integration count: every completed contact of a person who had a completed
    contact as a resident of the area in the months this run's windows cover, narrowed to what those two
    KPIs use. At county scale that is about a twentieth of the contacts, read by one narrow pass over the
    warehouse: reach and integration do not wait for the wide stg_contacts (the bench's floor reads the
    same way). Holds the months of this run's windows only (full refresh: all; adding a month: the 12
    months ending with last_month, read as stg_contacts reads a new month). -#}
{{ config(materialized='table') }}

{%- if var('last_month') %}
{%- set last_n = month_n("date '" ~ var('last_month') ~ "'") %}
{%- else %}
{%- set last_n = "(select max(" ~ month_n('event_date') ~ ") from " ~ source('warehouse', 'service_event') ~ ")" %}
{%- endif %}

-- materialized: read once, though used twice below (else the warehouse pass ran twice: 4.8 s → 2.6 s)
with contacts as materialized (
    select
        hash(person_id) as person_key,
        partner,
        coalesce(service_area, 'unmapped') as service_area,
        -- as in stg_contacts: a day-only contact (NGO attendance) starts at local midnight
        coalesce(event_start, timezone('Europe/Helsinki', event_date::timestamp)) as event_start,
        {{ month_n('event_date') }} as month_n,
        age_at_event,
        home_municipality = '837' and home_postal_code in (select postal_code from {{ ref('tesoma_area') }})
            as is_area_resident
    {%- if adding_a_month() %}
    -- the window's 12 months, read as stg_contacts reads a new month
    from ({{ service_event_versions_since(month_date(last_n ~ ' - 11')) }})
    {%- else %}
    from {{ source('warehouse', 'service_event_current') }}
    {%- endif %}
    where status = 'completed'
      and event_date is not null
      and {{ month_n('event_date') }} <= {{ last_n }}
      {%- if adding_a_month() %}
      and {{ month_n('event_date') }} >= {{ last_n }} - 11
      {%- endif %}
)

select *
from contacts
where person_key in (select person_key from contacts where is_area_resident)
