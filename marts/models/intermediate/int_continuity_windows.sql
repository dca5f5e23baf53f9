{#- Continuity of care per person, professional group (physician | nurse) and month, for persons with at
    least 3 completed visits of that group with a recorded professional in the 12 months ending with the
    month. n_j = the person's visits with professional j in the window, N = sum n_j:
      COC = (sum n_j^2 - N) / (N (N - 1)),  UPC = max n_j / N,
      SECON = consecutive visit pairs (both in the window) with the same professional / (N - 1).
    Computed without expanding visits to months: each visit adds +1 from its month and -1 twelve months
    later (a same-professional pair: +1 from the later visit's month, -1 twelve months after the earlier),
    so running sums give N, the pairs and every n_j at each change point; a window holds until the next
    change point. Stored summed over the persons whose windows hold over the same months (kpi_continuity
    takes the means per month); persons never leave this model. Months of this run only. -#}
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

-- Each professional's count n_j between its own change points: [t, next_t) with n_j > 0. (The last change
-- point of a professional is always a visit leaving, n_j = 0: every counted interval has a next_t.)
professional_timeline as (
    select * from (
        select person_key, is_nurse, professional_key, t,
               sum(sum(d)) over w as n,
               lead(t) over w as next_t
        from (
            select person_key, is_nurse, professional_key, month_n as t, count(*) as d from visits group by all
            union all
            select person_key, is_nurse, professional_key, month_n + 12, -count(*) from visits group by all
        )
        group by person_key, is_nurse, professional_key, t
        window w as (partition by person_key, is_nurse, professional_key order by t
                     rows between unbounded preceding and current row)
    )
    where n > 0
),

-- n_j at each eligible change point: the professionals whose interval holds it (a range join on the
-- person, about 5 rows per change point at county scale; an as-of join of every professional the person
-- ever saw to every change point made 97 million rows and took 38 s of the model's 87).
scores as (
    select e.person_key, e.is_nurse, e.t, sum(p.n) as professional_visits, sum(p.n * p.n) as sum_squares,
           max(p.n) as usual_provider_visits
    from eligible as e
    inner join professional_timeline as p
        on p.person_key = e.person_key
       and p.is_nurse = e.is_nurse
       and p.t <= e.t
       and e.t < p.next_t
    group by all
),

-- Summed per interval of months before anything is stored: the KPI needs means over persons, and writing
-- ten million person intervals cost as much as computing them (7 s at county scale). The smallest and
-- largest index and the count of inconsistent rows keep the person-level checks (_intermediate.yml).
persons as (
    select
        e.is_nurse,
        e.age_at_event >= 65 as is_65plus,
        e.t as valid_from_n,
        least(coalesce(e.next_t, b.last_n + 1), b.last_n + 1) - 1 as valid_to_n,
        e.visits,
        s.professional_visits,
        (s.sum_squares - e.visits) / (e.visits * (e.visits - 1)) as coc,
        s.usual_provider_visits / e.visits as upc,
        e.same_pairs / (e.visits - 1) as secon
    from eligible as e
    inner join scores as s using (person_key, is_nurse, t)
    cross join bounds as b
)

select
    case when is_nurse then 'nurse' else 'physician' end as professional_group,
    is_65plus,
    valid_from_n,
    valid_to_n,
    count(*) as persons,
    sum(coc) as coc_sum,
    sum(upc) as upc_sum,
    sum(secon) as secon_sum,
    min(visits) as visits_min,
    count(*) filter (where professional_visits <> visits) as inconsistent_persons,
    least(min(coc), min(upc), min(secon)) as index_min,
    greatest(max(coc), max(upc), max(secon)) as index_max
from persons
group by all
