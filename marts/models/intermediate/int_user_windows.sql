{#- For every person with a completed contact as a resident of the area (reach and integration count no one
    else): the months over which their 12-month window looks the same.
    A window changes only in a month with a contact (it enters) or 12 months after one (it leaves): those
    months are the change points, and the window at a change point holds for every month up to the next.
    So a person's months are a handful of intervals instead of one row per contact and month, and reach
    is counted from the intervals' ends (kpi_reach) without expanding anything to months.
    The person's residence and age group in a window are those of their latest month with contacts in it
    (that month's latest contact with a known value). Holds the months of this run only (full refresh:
    all; adding a month: last_month). -#}
with bounds as ({{ target_months(ref('stg_area_contacts')) }}),

person_months as (
    select
        c.person_key,
        c.month_n,
        arg_max(c.is_area_resident, c.event_start) as is_area_resident,
        arg_max(c.age_at_event, c.event_start) as age_at_event,
        coalesce(bit_or(1::bigint << a.area_bit) filter (where c.service_area <> 'unmapped'), 0) as area_mask,
        -- two partners differ iff their hashes do (64-bit); integers are cheaper than strings in a window
        min(hash(c.partner)) as partner_low,
        max(hash(c.partner)) as partner_high
    from {{ ref('stg_area_contacts') }} as c
    inner join {{ ref('service_areas') }} as a on a.service_area = c.service_area
    cross join bounds as b
    where c.month_n between b.first_n - 11 and b.last_n
      -- Only persons with a completed contact as a resident of the area in these months: no one else is
      -- ever counted by reach or integration (stg_area_contacts holds those of all its months).
      and c.person_key in (
          select r.person_key from {{ ref('stg_area_contacts') }} as r
          where r.is_area_resident and r.month_n between b.first_n - 11 and b.last_n)
    group by c.person_key, c.month_n
),

-- Change points: a month with contacts (its facts enter the window), the month 12 months later (they
-- leave), and the run's first month. A month can be both an entry and an exit: both rows then get the
-- same window (a range frame includes its peers) and the first of them an empty interval, dropped below.
timeline as (
    select person_key, month_n as t, month_n as active_n,
           -- residence and age as one small integer: one arg_max instead of two in the window
           ((case when is_area_resident then 1000 when not is_area_resident then 0 else 2000 end)
            + coalesce(age_at_event, 999))::smallint as facts,
           area_mask, partner_low, partner_high
    from person_months
    union all
    select person_key, month_n + 12, null, null, 0, null, null from person_months
    union all
    select p.person_key, b.first_n, null, null, 0, null, null
    from (select distinct person_key from person_months) as p cross join bounds as b
),

windows as (
    select
        person_key,
        t,
        lead(t) over (partition by person_key order by t) as next_t,
        arg_max(facts, active_n) over w as facts,
        bit_or(area_mask) over w as area_mask,
        min(partner_low) over w as partner_low,
        max(partner_high) over w as partner_high
    from timeline
    window w as (partition by person_key order by t range between 11 preceding and current row)
),

intervals as (
    select
        w.person_key,
        w.t as valid_from_n,
        least(coalesce(w.next_t, b.last_n + 1), b.last_n + 1) - 1 as valid_to_n,
        w.facts,
        w.area_mask,
        w.partner_low,
        w.partner_high
    from windows as w
    cross join bounds as b
    where w.t between b.first_n and b.last_n
      and w.facts is not null  -- a completed contact in the window
)

select
    person_key,
    valid_from_n,
    valid_to_n,
    facts // 1000 = 1 as is_area_resident,
    {{ age_group('nullif(facts % 1000, 999)') }} as age_group,
    area_mask,
    bit_count(area_mask) >= 2 as multi_area,
    partner_low <> partner_high as multi_partner
from intervals
where valid_to_n >= valid_from_n
