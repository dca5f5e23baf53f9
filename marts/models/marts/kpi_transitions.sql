{#- The most common moves between service areas: a person's consecutive completed contacts (in time order,
    all contacts with a mapped service area) in two different areas at most 30 days apart, counted in the
    month of the later contact. Ranked by the persons who made the move, then by the moves; top N
    (var transitions_top_n) per month. -#}
{{ config(**monthly_incremental_config()) }}

with bounds as ({{ target_months() }}),

contacts as (
    select c.person_key, c.service_area, c.event_start, c.event_date, c.month_n
    from {{ ref('stg_contacts') }} as c
    cross join bounds as b
    where c.status = 'completed'
      and c.service_area <> 'unmapped'
      -- a move into the run's first month can start up to 30 days before it
      and c.event_date >= {{ month_date('b.first_n') }} - 31
      and c.month_n <= b.last_n
),

sequenced as (
    select
        *,
        lag(service_area) over w as previous_area,
        lag(event_date) over w as previous_date
    from contacts
    window w as (partition by person_key order by event_start, service_area)
),

moves as (
    select s.month_n, s.previous_area as from_area, s.service_area as to_area,
           count(distinct s.person_key) as persons, count(*) as transitions
    from sequenced as s
    cross join bounds as b
    where s.previous_area <> s.service_area
      and s.event_date - s.previous_date <= 30
      and s.month_n between b.first_n and b.last_n
    group by all
),

ranked as (
    select *, row_number() over (partition by month_n order by persons desc, transitions desc, from_area, to_area)
        as rank
    from moves
)

select {{ month_date('month_n') }} as month, rank::integer as rank, from_area, to_area, persons, transitions
from ranked
where rank <= {{ var('transitions_top_n') }}
