{#- Continuity of care per person, professional group (physician | nurse) and month, for persons with at
    least 3 completed visits of that group with a recorded professional in the 12 months ending with the
    month. n_j = the person's visits with professional j in the window, N = sum n_j:
      COC = (sum n_j^2 - N) / (N (N - 1)),  UPC = max n_j / N,
      SECON = consecutive visit pairs (both in the window) with the same professional / (N - 1).
    Computed without expanding visits to months: each visit adds +1 from its month and -1 twelve months
    later (a same-professional pair: +1 from the later visit's month, -1 twelve months after the earlier),
    so running sums give N, the pairs and every n_j at each change point; a window holds until the next
    change point and only eligible windows are expanded to months. Months of this run only. -#}
with bounds as ({{ target_months() }}),

visits as (
    -- the group as a boolean: every window below partitions and sorts by it, and a fixed-width key sorts
    -- and compares much faster than a string (the name comes back only in the final select)
    select c.person_key, c.professional_group = 'nurse' as is_nurse, c.professional_key, c.month_n, c.event_start,
           c.age_at_event
    from {{ ref('stg_contacts') }} as c
    cross join bounds as b
    where c.status = 'completed'
      and c.professional_group in ('physician', 'nurse')
      and c.professional_key is not null
      and c.month_n between b.first_n - 11 and b.last_n
),

sequenced as (
    select
        *,
        lag(professional_key) over w = professional_key as same_as_previous,
        lag(month_n) over w as previous_month_n
    from visits
    window w as (partition by person_key, is_nurse order by event_start, professional_key)
),

group_events as (
    select person_key, is_nurse, month_n as t, count(*) as d_visits,
           count(*) filter (where same_as_previous) as d_same_pairs, max(age_at_event) as age_at_event
    from sequenced group by all
    union all
    select person_key, is_nurse, month_n + 12, -count(*), 0, null from visits group by all
    union all
    select person_key, is_nurse, previous_month_n + 12, 0, -count(*), null
    from sequenced where same_as_previous group by all
    union all
    select distinct v.person_key, v.is_nurse, b.first_n, 0, 0, null from visits as v cross join bounds as b
),

group_timeline as (
    select
        person_key,
        is_nurse,
        t,
        sum(sum(d_visits)) over running as visits,
        sum(sum(d_same_pairs)) over running as same_pairs,
        -- ages only grow, so the highest age so far is the age at the latest visit in the window
        max(max(age_at_event)) over running as age_at_event,
        lead(t) over (partition by person_key, is_nurse order by t) as next_t
    from group_events
    group by person_key, is_nurse, t
    window running as (partition by person_key, is_nurse order by t rows unbounded preceding)
),

eligible as (
    select g.*
    from group_timeline as g
    cross join bounds as b
    where g.visits >= 3 and g.t between b.first_n and b.last_n
),

professional_timeline as (
    select person_key, is_nurse, professional_key, t,
           sum(sum(d)) over (partition by person_key, is_nurse, professional_key order by t
                             rows unbounded preceding) as n
    from (
        select person_key, is_nurse, professional_key, month_n as t, count(*) as d from visits group by all
        union all
        select person_key, is_nurse, professional_key, month_n + 12, -count(*) from visits group by all
    )
    group by person_key, is_nurse, professional_key, t
),

professionals as (
    select distinct person_key, is_nurse, professional_key from visits
),

per_professional as (
    select e.person_key, e.is_nurse, e.t, pt.n
    from (
        select e.person_key, e.is_nurse, e.t, p.professional_key
        from eligible as e
        inner join professionals as p using (person_key, is_nurse)
    ) as e
    asof join professional_timeline as pt
        on pt.person_key = e.person_key
       and pt.is_nurse = e.is_nurse
       and pt.professional_key = e.professional_key
       and pt.t <= e.t
),

scores as (
    select person_key, is_nurse, t, sum(n) as professional_visits, sum(n * n) as sum_squares,
           max(n) as usual_provider_visits
    from per_professional
    group by all
)

select
    e.person_key,
    case when e.is_nurse then 'nurse' else 'physician' end as professional_group,
    unnest(range(e.t, least(coalesce(e.next_t, b.last_n + 1), b.last_n + 1))) as month_n,
    e.visits::bigint as visits,
    s.professional_visits::bigint as professional_visits,
    e.age_at_event >= 65 as is_65plus,
    (s.sum_squares - e.visits) / (e.visits * (e.visits - 1)) as coc,
    s.usual_provider_visits / e.visits as upc,
    e.same_pairs / (e.visits - 1) as secon
from eligible as e
inner join scores as s using (person_key, is_nurse, t)
cross join bounds as b
