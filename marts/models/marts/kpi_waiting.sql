{#- Waiting time (THL): days from the care-need assessment's date to the date of the completed non-urgent
    visit, per month of the visit, for all groups and per professional group. Visits without an assessment,
    and the few dated before their assessment (a recording error), are left out. -#}
{{ config(**monthly_incremental_config()) }}

with bounds as ({{ target_months() }}),

waits as (
    select c.month_n, c.person_key, coalesce(c.professional_group, 'unmapped') as professional_group,
           c.event_date - c.assessment_date as wait_days
    from {{ ref('stg_contacts') }} as c
    cross join bounds as b
    where c.status = 'completed'
      and c.urgency = 'non_urgent'
      and c.assessment_date is not null
      and c.assessment_date <= c.event_date
      and c.month_n between b.first_n and b.last_n
)

select
    {{ month_date('month_n') }} as month,
    coalesce(professional_group, 'all') as professional_group,
    count(*) as visits,
    count(distinct person_key) as persons,
    count(*) filter (where wait_days <= 7) as within_7d,
    count(*) filter (where wait_days <= 14) as within_14d,
    round(100.0 * count(*) filter (where wait_days <= 7) / count(*), 2) as within_7d_pct,
    round(100.0 * count(*) filter (where wait_days <= 14) / count(*), 2) as within_14d_pct,
    round(avg(wait_days), 2) as mean_wait_days,
    median(wait_days)::double as median_wait_days
from waits
group by grouping sets ((month_n), (month_n, professional_group))
