/**
 * What a store throws where it did not try, nothing sent: its Redis is known to be down (an outage,
 * logged once) or is being connected to again. The lookup before it failed alike and was counted;
 * this is not counted again.
 */
export class StoreDown extends Error {}
