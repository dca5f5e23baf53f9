{#- stg_contacts keys persons and professionals by 64-bit hashes of their pseudonyms. Two pseudonyms on one
    key would merge two persons (or two professionals): fails unless the hash is one-to-one over every
    pseudonym in the sources (all versions: a superset of the current ones). -#}
{{ config(tags=['full_scan']) }}
select
    count(distinct person_id) as pseudonyms,
    count(distinct hash(person_id)) as person_keys,
    count(distinct professional_id) as professionals,
    count(distinct hash(professional_id)) filter (where professional_id is not null) as professional_keys
from {{ source('warehouse', 'service_event') }}
having count(distinct person_id) <> count(distinct hash(person_id))
    or count(distinct professional_id) <> count(distinct hash(professional_id)) filter (where professional_id is not null)
