{#- Non-person-level activity (youth services, library, NGO groups): the month's sum per service area and
    measure (visits, loans, participants, ...). Counts only: opening hours are not a count (6.5 hours a day)
    and are not published here. -#}
{{ config(**monthly_incremental_config()) }}

with bounds as ({{ target_months() }})

select a.month, a.service_area, a.measure, sum(a.value) as value
from {{ ref('stg_activity_count') }} as a
cross join bounds as b
where {{ month_n('a.month') }} between b.first_n and b.last_n
  and a.measure <> 'opening_hours'
group by all
